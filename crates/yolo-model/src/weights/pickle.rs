//! A minimal, safe unpickler for PyTorch checkpoints: builds values, never executes anything.

use std::collections::HashMap;
use std::rc::Rc;

use super::convert::FloatKind;

/// How deeply `_rebuild_from_type_v2` may wrap another rebuild call.
const MAX_CALL_DEPTH: usize = 4;

/// Items that calls may copy per byte of pickle (a real checkpoint copies almost none).
const COPIES_PER_BYTE: usize = 16;

/// Highest tensor rank accepted.
const MAX_RANK: usize = 16;

/// Index of a container in [`Pickle::nodes`].
pub(crate) type NodeId = usize;

/// A `module name` reference from `GLOBAL` / `STACK_GLOBAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Global {
    /// Python module, e.g. `torch._utils`.
    pub module: String,
    /// Attribute, e.g. `_rebuild_tensor_v2`.
    pub name: String,
}

impl Global {
    /// `module.name`.
    pub fn path(&self) -> String {
        format!("{}.{}", self.module, self.name)
    }
}

/// Element type of a PyTorch storage, from its class (`torch.HalfStorage` ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StorageKind {
    /// Converts to f32.
    Float(FloatKind),
    /// An integer or boolean type (such buffers are skipped), with its name.
    Integer(&'static str),
    /// Anything else (complex, quantized ...), by class name.
    Other(String),
}

impl StorageKind {
    /// The element type's name (`float16`, `int64`, or the storage class).
    pub fn name(&self) -> &str {
        match self {
            Self::Float(FloatKind::F16) => "float16",
            Self::Float(FloatKind::BF16) => "bfloat16",
            Self::Float(FloatKind::F32) => "float32",
            Self::Float(FloatKind::F64) => "float64",
            Self::Integer(name) => name,
            Self::Other(class) => class,
        }
    }

    fn from_class(class: &Global) -> Self {
        match class.name.as_str() {
            "HalfStorage" => Self::Float(FloatKind::F16),
            "BFloat16Storage" => Self::Float(FloatKind::BF16),
            "FloatStorage" => Self::Float(FloatKind::F32),
            "DoubleStorage" => Self::Float(FloatKind::F64),
            "LongStorage" => Self::Integer("int64"),
            "IntStorage" => Self::Integer("int32"),
            "ShortStorage" => Self::Integer("int16"),
            "CharStorage" => Self::Integer("int8"),
            "ByteStorage" => Self::Integer("uint8"),
            "BoolStorage" => Self::Integer("bool"),
            _ => Self::Other(class.path()),
        }
    }
}

/// A storage named by a persistent id `('storage', torch.XStorage, key, location, numel)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Storage {
    /// Element type.
    pub kind: StorageKind,
    /// Key of the storage file (`<archive>/data/<key>`).
    pub key: String,
    /// Number of elements.
    pub numel: usize,
}

/// A tensor view built by `torch._utils._rebuild_tensor_v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorRef {
    /// Backing storage.
    pub storage: Rc<Storage>,
    /// Offset into the storage, in elements.
    pub offset: usize,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides, in elements.
    pub stride: Vec<usize>,
}

/// A pickled value; containers live in the arena ([`Pickle::nodes`]) so that shared and
/// mutated references behave as in Python and nothing is dropped recursively.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in i64.
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Str(Rc<str>),
    /// A bytes object.
    Bytes(Rc<[u8]>),
    /// A tuple ([`Node::Seq`]).
    Tuple(NodeId),
    /// A list or set ([`Node::Seq`]).
    List(NodeId),
    /// A dict or OrderedDict ([`Node::Dict`]).
    Dict(NodeId),
    /// An instance of a class that is not interpreted ([`Node::Object`]).
    Object(NodeId),
    /// A class or function reference.
    Global(Rc<Global>),
    /// A storage from a persistent id.
    Storage(Rc<Storage>),
    /// A tensor.
    Tensor(Rc<TensorRef>),
}

/// An arena entry.
#[derive(Debug)]
pub(crate) enum Node {
    /// Items of a tuple, list or set.
    Seq(Vec<Value>),
    /// Items of a dict, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// An object: the callable that made it, its arguments and its `BUILD` state.
    Object {
        /// The class (usually a [`Value::Global`]).
        class: Value,
        /// Constructor arguments.
        args: Value,
        /// State set by `BUILD` (`None` if never built).
        state: Value,
    },
}

/// A decoded pickle: its arena and its root value.
#[derive(Debug)]
pub(crate) struct Pickle {
    nodes: Vec<Node>,
    /// The value `STOP` returned.
    pub root: Value,
}

impl Pickle {
    /// Items of a tuple or list (empty for anything else).
    pub fn items(&self, value: &Value) -> &[Value] {
        match value {
            Value::Tuple(id) | Value::List(id) => match self.nodes.get(*id) {
                Some(Node::Seq(items)) => items,
                _ => &[],
            },
            _ => &[],
        }
    }

    /// Entries of a dict (empty for anything else).
    pub fn entries(&self, value: &Value) -> &[(Value, Value)] {
        match value {
            Value::Dict(id) => match self.nodes.get(*id) {
                Some(Node::Dict(entries)) => entries,
                _ => &[],
            },
            _ => &[],
        }
    }

    /// `dict[key]` for a str key.
    pub fn get(&self, dict: &Value, key: &str) -> Option<&Value> {
        self.entries(dict)
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Value::Str(s) if &**s == key))
            .map(|(_, v)| v)
    }

    /// Class, arguments and state of an object.
    pub fn object(&self, value: &Value) -> Option<(&Value, &Value, &Value)> {
        match value {
            Value::Object(id) => match self.nodes.get(*id) {
                Some(Node::Object { class, args, state }) => Some((class, args, state)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Why unpickling failed, at which opcode.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PickleError {
    /// Byte offset of the opcode.
    pub offset: usize,
    /// The problem.
    pub problem: String,
}

/// Decodes a pickle (the binary opcodes of protocols 2–5). Nothing is imported or run:
/// a few torch/collections callables are interpreted, any other class becomes a generic object.
pub(crate) fn unpickle(data: &[u8]) -> Result<Pickle, PickleError> {
    let pickle = Pickle {
        nodes: Vec::new(),
        root: Value::None,
    };
    let mut machine = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        pickle,
        copy_budget: COPIES_PER_BYTE.saturating_mul(data.len()),
    };
    loop {
        let start = machine.pos;
        let step = machine.step().map_err(|problem| PickleError {
            offset: start,
            problem,
        })?;
        if let Some(root) = step {
            return Ok(Pickle {
                root,
                ..machine.pickle
            });
        }
    }
}

/// The unpickling stack machine.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    /// Items that calls like `OrderedDict(pairs)` may still copy.
    copy_budget: usize,
    /// The arena being filled (its root is set at `STOP`).
    pickle: Pickle,
}

type Step = Result<Option<Value>, String>;

impl Machine<'_> {
    /// Executes one opcode; `Some(root)` at `STOP`.
    fn step(&mut self) -> Step {
        let op = self.byte()?;
        if let Some(value) = self.literal(op)? {
            self.push(value);
            return Ok(None);
        }
        match op {
            b'.' => return self.pop().map(Some),
            0x80 => {
                self.byte()?;
            }
            0x95 => {
                self.take(8)?;
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => self.push(self.top()?.clone()),
            b')' => self.push_seq(Vec::new(), Value::Tuple),
            b't' => self
                .pop_mark()
                .map(|items| self.push_seq(items, Value::Tuple))?,
            0x85..=0x87 => self.small_tuple(usize::from(op - 0x84))?,
            b']' | 0x8f => self.push_seq(Vec::new(), Value::List),
            b'l' | 0x91 => self
                .pop_mark()
                .map(|items| self.push_seq(items, Value::List))?,
            b'a' => self.append()?,
            b'e' | 0x90 => self.append_mark()?,
            b'}' => self.push_dict(Vec::new()),
            b'd' => self.dict_from_mark()?,
            b's' => self.set_item()?,
            b'u' => self.set_items_mark()?,
            b'q' | b'r' | 0x94 => self.put(op)?,
            b'h' | b'j' => self.get(op)?,
            b'c' => self.global()?,
            0x93 => self.stack_global()?,
            b'R' | 0x81 => self.reduce()?,
            0x92 => self.newobj_ex()?,
            b'b' => self.build()?,
            b'Q' => self.persistent_id()?,
            other => return Err(format!("unsupported pickle opcode 0x{other:02x}")),
        }
        Ok(None)
    }

    /// The value a literal-pushing opcode pushes; `None` for other opcodes.
    fn literal(&mut self, op: u8) -> Result<Option<Value>, String> {
        let value = match op {
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'J' => Value::Int(i32::from_le_bytes(self.array()?).into()),
            b'K' => Value::Int(self.byte()?.into()),
            b'M' => Value::Int(u16::from_le_bytes(self.array()?).into()),
            0x8a => self.long(1)?,
            0x8b => self.long(4)?,
            b'G' => Value::Float(f64::from_be_bytes(self.array()?)),
            0x8c => self.text(1)?,
            b'X' => self.text(4)?,
            0x8d => self.text(8)?,
            b'U' => self.latin1(1)?,
            b'T' => self.latin1(4)?,
            b'C' => Value::Bytes(self.sized(1)?.into()),
            b'B' => Value::Bytes(self.sized(4)?.into()),
            0x8e => Value::Bytes(self.sized(8)?.into()),
            _ => return Ok(None),
        };
        Ok(Some(value))
    }

    // ----- reading the opcode stream

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.data.len());
        let end = end.ok_or_else(|| {
            format!(
                "unexpected end of data (needs {n} more bytes, pickle is {} bytes)",
                self.data.len()
            )
        })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        self.array::<1>().map(|[b]| b)
    }

    /// A little-endian length of `width` bytes (1, 4 or 8), then that many bytes.
    fn sized(&mut self, width: usize) -> Result<&[u8], String> {
        let mut len = [0u8; 8];
        len[..width].copy_from_slice(self.take(width)?);
        let len =
            usize::try_from(u64::from_le_bytes(len)).map_err(|_| "length overflows".to_string())?;
        self.take(len)
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated GLOBAL line")?;
        let line = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(line)
    }

    // ----- the stack

    fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    fn pop(&mut self) -> Result<Value, String> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("stack underflow (at a MARK)".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top(&self) -> Result<&Value, String> {
        self.stack.last().ok_or_else(|| "stack underflow".into())
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("no MARK on the stack")?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn node(&mut self, node: Node) -> NodeId {
        self.pickle.nodes.push(node);
        self.pickle.nodes.len() - 1
    }

    // ----- literals

    fn long(&mut self, width: usize) -> Result<Value, String> {
        let bytes = self.sized(width)?;
        if bytes.len() > 8 {
            return Err(format!(
                "integer of {} bytes does not fit in 64 bits",
                bytes.len()
            ));
        }
        let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) {
            0xff
        } else {
            0
        };
        let mut buf = [fill; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        Ok(Value::Int(i64::from_le_bytes(buf)))
    }

    fn text(&mut self, width: usize) -> Result<Value, String> {
        let text = std::str::from_utf8(self.sized(width)?)
            .map_err(|e| format!("invalid UTF-8 in str: {e}"))?;
        Ok(Value::Str(text.into()))
    }

    fn latin1(&mut self, width: usize) -> Result<Value, String> {
        Ok(Value::Str(
            self.sized(width)?
                .iter()
                .map(|&b| char::from(b))
                .collect::<String>()
                .into(),
        ))
    }

    // ----- containers

    fn push_seq(&mut self, items: Vec<Value>, wrap: fn(NodeId) -> Value) {
        let id = self.node(Node::Seq(items));
        self.push(wrap(id));
    }

    fn push_dict(&mut self, entries: Vec<(Value, Value)>) {
        let id = self.node(Node::Dict(entries));
        self.push(Value::Dict(id));
    }

    fn small_tuple(&mut self, n: usize) -> Result<(), String> {
        let len = self.stack.len().checked_sub(n).ok_or("stack underflow")?;
        if self.marks.last().is_some_and(|&m| m > len) {
            return Err("stack underflow (at a MARK)".into());
        }
        let items = self.stack.split_off(len);
        self.push_seq(items, Value::Tuple);
        Ok(())
    }

    fn append(&mut self) -> Result<(), String> {
        let item = self.pop()?;
        self.extend_top(vec![item])
    }

    fn append_mark(&mut self) -> Result<(), String> {
        let items = self.pop_mark()?;
        self.extend_top(items)
    }

    /// Appends to the list (or set) on top of the stack.
    fn extend_top(&mut self, items: Vec<Value>) -> Result<(), String> {
        let Value::List(id) = *self.top()? else {
            return Err("APPEND to something that is not a list".into());
        };
        match self.pickle.nodes.get_mut(id) {
            Some(Node::Seq(list)) => list.extend(items),
            _ => return Err("APPEND to something that is not a list".into()),
        }
        Ok(())
    }

    fn dict_from_mark(&mut self) -> Result<(), String> {
        let items = self.pop_mark()?;
        let entries = pairs(items)?;
        self.push_dict(entries);
        Ok(())
    }

    fn set_item(&mut self) -> Result<(), String> {
        let value = self.pop()?;
        let key = self.pop()?;
        self.insert_top(vec![(key, value)])
    }

    fn set_items_mark(&mut self) -> Result<(), String> {
        let items = self.pop_mark()?;
        let entries = pairs(items)?;
        self.insert_top(entries)
    }

    /// Inserts into the dict on top of the stack (for a repeated key, lookups find the last).
    fn insert_top(&mut self, entries: Vec<(Value, Value)>) -> Result<(), String> {
        let Value::Dict(id) = *self.top()? else {
            return Err("SETITEM on something that is not a dict".into());
        };
        match self.pickle.nodes.get_mut(id) {
            Some(Node::Dict(dict)) => dict.extend(entries),
            _ => return Err("SETITEM on something that is not a dict".into()),
        }
        Ok(())
    }

    // ----- memo

    /// The memo index argument of `BINPUT`/`BINGET` (1 byte) or `LONG_BINPUT`/`LONG_BINGET` (4 bytes).
    fn memo_index(&mut self, op: u8) -> Result<u64, String> {
        match op {
            b'q' | b'h' => Ok(self.byte()?.into()),
            0x94 => Ok(self.memo.len() as u64),
            _ => Ok(u32::from_le_bytes(self.array()?).into()),
        }
    }

    fn put(&mut self, op: u8) -> Result<(), String> {
        let index = self.memo_index(op)?;
        let value = self.top()?.clone();
        self.memo.insert(index, value);
        Ok(())
    }

    fn get(&mut self, op: u8) -> Result<(), String> {
        let index = self.memo_index(op)?;
        let value = self
            .memo
            .get(&index)
            .cloned()
            .ok_or_else(|| format!("memo entry {index} is missing"))?;
        self.push(value);
        Ok(())
    }

    // ----- classes, calls and persistent ids

    fn global(&mut self) -> Result<(), String> {
        let module = self.line()?;
        let name = self.line()?;
        self.push(Value::Global(Rc::new(Global { module, name })));
        Ok(())
    }

    fn stack_global(&mut self) -> Result<(), String> {
        let name = self.pop()?;
        let module = self.pop()?;
        let (Value::Str(module), Value::Str(name)) = (module, name) else {
            return Err("STACK_GLOBAL needs two str".into());
        };
        self.push(Value::Global(Rc::new(Global {
            module: module.to_string(),
            name: name.to_string(),
        })));
        Ok(())
    }

    /// `REDUCE` (`callable(*args)`) and `NEWOBJ` (`cls.__new__(cls, *args)`).
    fn reduce(&mut self) -> Result<(), String> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let value = self.call(callable, args, 0)?;
        self.push(value);
        Ok(())
    }

    fn newobj_ex(&mut self) -> Result<(), String> {
        let _kwargs = self.pop()?;
        self.reduce()
    }

    /// The value a call produces: interpreted for the few callables a checkpoint needs,
    /// a generic object otherwise.
    fn call(&mut self, callable: Value, args: Value, depth: usize) -> Result<Value, String> {
        let Value::Global(global) = &callable else {
            return Ok(self.object(callable, args));
        };
        let items = self.pickle.items(&args);
        match (global.module.as_str(), global.name.as_str()) {
            ("collections", "OrderedDict") | ("__builtin__" | "builtins", "dict") => {
                self.dict_call(&args)
            }
            ("__builtin__" | "builtins", "set" | "frozenset") => self.set_call(&args),
            ("torch", "Size") => Ok(items.first().cloned().unwrap_or(Value::None)),
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => {
                rebuild_tensor(&self.pickle, items)
            }
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => items
                .first()
                .cloned()
                .ok_or_else(|| "_rebuild_parameter without arguments".into()),
            ("torch._tensor", "_rebuild_from_type_v2") => match items {
                [func, _, inner, ..] if depth < MAX_CALL_DEPTH => {
                    let (func, inner) = (func.clone(), inner.clone());
                    self.call(func, inner, depth + 1)
                }
                _ => Err(
                    "_rebuild_from_type_v2 needs (func, type, args, state) and at most 4 levels"
                        .into(),
                ),
            },
            ("torch._utils", "_rebuild_qtensor") => {
                Err("quantized tensors are not supported".into())
            }
            _ => Ok(self.object(callable, args)),
        }
    }

    fn object(&mut self, class: Value, args: Value) -> Value {
        Value::Object(self.node(Node::Object {
            class,
            args,
            state: Value::None,
        }))
    }

    /// `OrderedDict()` / `OrderedDict(pairs)` / `dict(other)`.
    fn dict_call(&mut self, args: &Value) -> Result<Value, String> {
        let source = self.pickle.items(args).first();
        let len = source.map_or(0, |v| {
            self.pickle.entries(v).len() + self.pickle.items(v).len()
        });
        self.spend(len)?;
        let pickle = &self.pickle;
        let entries = match pickle.items(args).first() {
            Some(dict @ Value::Dict(_)) => pickle.entries(dict).to_vec(),
            Some(pairs) => pickle
                .items(pairs)
                .iter()
                .filter_map(|pair| two(pickle.items(pair)))
                .collect(),
            None => Vec::new(),
        };
        Ok(Value::Dict(self.node(Node::Dict(entries))))
    }

    /// `set(items)`, kept as a list.
    fn set_call(&mut self, args: &Value) -> Result<Value, String> {
        let source = self.pickle.items(args).first();
        let items = source
            .map(|v| self.pickle.items(v).to_vec())
            .unwrap_or_default();
        self.spend(items.len())?;
        Ok(Value::List(self.node(Node::Seq(items))))
    }

    /// Charges `n` copied items against the copy budget (which stops quadratic blow-ups).
    fn spend(&mut self, n: usize) -> Result<(), String> {
        self.copy_budget = self
            .copy_budget
            .checked_sub(n)
            .ok_or("the pickle copies too much data")?;
        Ok(())
    }

    /// `BUILD`: sets the state of the object below it; other values (tensors, dicts) ignore it.
    fn build(&mut self) -> Result<(), String> {
        let new_state = self.pop()?;
        let Value::Object(id) = *self.top()? else {
            return Ok(());
        };
        if let Some(Node::Object { state, .. }) = self.pickle.nodes.get_mut(id) {
            *state = new_state;
        }
        Ok(())
    }

    /// `BINPERSID` with a PyTorch storage id `('storage', torch.XStorage, key, location, numel)`.
    fn persistent_id(&mut self) -> Result<(), String> {
        let pid = self.pop()?;
        let storage = match self.pickle.items(&pid) {
            [
                Value::Str(tag),
                Value::Global(class),
                key,
                _location,
                Value::Int(numel),
            ] if &**tag == "storage" => Storage {
                kind: StorageKind::from_class(class),
                key: match key {
                    Value::Str(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => return Err("storage key is neither str nor int".into()),
                },
                numel: usize::try_from(*numel)
                    .map_err(|_| format!("storage of {numel} elements"))?,
            },
            _ => return Err("unsupported persistent id (expected a PyTorch storage)".into()),
        };
        self.push(Value::Storage(Rc::new(storage)));
        Ok(())
    }
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
fn rebuild_tensor(pickle: &Pickle, args: &[Value]) -> Result<Value, String> {
    let [
        Value::Storage(storage),
        Value::Int(offset),
        size,
        stride,
        ..,
    ] = args
    else {
        return Err("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)".into());
    };
    let dims = |v: &Value| -> Result<Vec<usize>, String> {
        pickle
            .items(v)
            .iter()
            .map(|d| match d {
                Value::Int(i) => {
                    usize::try_from(*i).map_err(|_| format!("negative size or stride {i}"))
                }
                _ => Err("size or stride is not an int".into()),
            })
            .collect()
    };
    let (shape, stride) = (dims(size)?, dims(stride)?);
    if shape.len() != stride.len() || shape.len() > MAX_RANK {
        return Err(format!(
            "tensor size {shape:?} and stride {stride:?}: ranks differ or exceed {MAX_RANK}"
        ));
    }
    let offset =
        usize::try_from(*offset).map_err(|_| format!("negative storage offset {offset}"))?;
    Ok(Value::Tensor(Rc::new(TensorRef {
        storage: storage.clone(),
        offset,
        shape,
        stride,
    })))
}

/// Pairs up `k1, v1, k2, v2, ...`.
fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of items for a dict".into());
    }
    let mut iter = items.into_iter();
    Ok(std::iter::from_fn(|| Some((iter.next()?, iter.next()?))).collect())
}

/// A 2-tuple's items.
fn two(items: &[Value]) -> Option<(Value, Value)> {
    match items {
        [k, v] => Some((k.clone(), v.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ops: &[&[u8]]) -> Result<Pickle, PickleError> {
        unpickle(&ops.concat())
    }

    #[test]
    fn decodes_literals_memo_and_containers() {
        let pickle = run(&[
            b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00", // PROTO 4, FRAME
            b"]\x94(",                                       // [] MEMOIZE MARK
            b"\x8a\x02\x00\xff",                             // LONG1 -256
            b"G\x3f\xf8\x00\x00\x00\x00\x00\x00",            // BINFLOAT 1.5
            b"\x8c\x02hi",                                   // SHORT_BINUNICODE
            b"C\x01z",                                       // SHORT_BINBYTES
            b"M\x01\x01\x88N",                               // BININT2 257, True, None
            b"e",                                            // APPENDS
            b"h\x00\x85.",                                   // BINGET 0, TUPLE1, STOP
        ])
        .expect("valid pickle");
        let outer = pickle.items(&pickle.root);
        let [list @ Value::List(_)] = outer else {
            panic!("tuple of one list: {outer:?}")
        };
        let items = pickle.items(list);
        assert!(matches!(
            items,
            [Value::Int(-256), Value::Float(1.5), Value::Str(s), Value::Bytes(b), Value::Int(257), Value::Bool(true), Value::None]
                if &**s == "hi" && &**b == b"z"
        ));
    }

    #[test]
    fn unknown_classes_become_objects_with_state() {
        let pickle = run(&[
            b"\x8c\x04evil\x8c\x06system\x93", // STACK_GLOBAL evil.system
            b")\x81",                          // NEWOBJ
            b"}\x8c\x01k\x8f(K\x01\x90s",      // {'k': set with 1}
            b"b.",                             // BUILD, STOP
        ])
        .expect("valid pickle");
        let (class, _, state) = pickle.object(&pickle.root).expect("an object");
        assert!(matches!(class, Value::Global(g) if g.path() == "evil.system"));
        let set = pickle.get(state, "k").expect("state has k");
        assert!(matches!(pickle.items(set), [Value::Int(1)]));
    }

    #[test]
    fn malformed_pickles_are_errors_with_offsets() {
        let cases: [(&[u8], usize, &str); 7] = [
            (b"K\x01I1\n.", 2, "unsupported pickle opcode 0x49"),
            (b"t.", 0, "no MARK"),
            (b"0", 0, "stack underflow"),
            (b"h\x05.", 0, "memo entry 5 is missing"),
            (b"X\xff\x00\x00\x00ab", 0, "unexpected end of data"),
            (
                b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.",
                0,
                "does not fit in 64 bits",
            ),
            (b"}(K\x01u.", 4, "odd number of items"),
        ];
        for (bytes, offset, problem) in cases {
            let err = unpickle(bytes).expect_err("malformed");
            assert_eq!(err.offset, offset, "{err:?}");
            assert!(err.problem.contains(problem), "{err:?}");
        }
        assert!(unpickle(b"").is_err());
        assert!(
            unpickle(b"K\x01(K\x02\x86.").is_err(),
            "TUPLE2 across a MARK"
        );
    }

    #[test]
    fn deep_nesting_and_copy_bombs_are_harmless() {
        let deep = [b")".as_slice(), &[0x85; 1_000_000], b"."].concat();
        assert!(unpickle(&deep).is_ok());
        let mut bomb = b"](".to_vec();
        bomb.extend([b'N'; 1000]);
        bomb.extend(b"eq\x00");
        for _ in 0..100 {
            bomb.extend(b"ccollections\nOrderedDict\nh\x00\x85R0");
        }
        let err = unpickle(&bomb).expect_err("copy budget");
        assert!(err.problem.contains("copies too much"), "{err:?}");
    }
}
