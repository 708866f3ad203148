//! Dataset yaml parsing and split listing, on temp folders and on the shared real datasets.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{add_image, shared_dir, write};
use yolo_data::{DatasetConfig, Split};

fn yaml(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    write(&p, text.as_bytes());
    p
}

fn load_err(path: &Path) -> String {
    DatasetConfig::load(path)
        .expect_err("expected an error")
        .to_string()
}

#[test]
fn relative_path_and_dict_names() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("ds");
    add_image(&ds, "train", "b", (16, 16), None);
    add_image(&ds, "train", "a", (16, 16), None);
    write(&ds.join("images/train/sub/c.PNG"), b"not read here");
    write(&ds.join("images/train/notes.txt"), b"ignored");
    write(&ds.join("images/train/.hidden/d.jpg"), b"skipped");
    add_image(&ds, "val", "v", (16, 16), None);
    let y = yaml(
        &tmp.path().join("cfg"),
        "data.yaml",
        "path: ../ds\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n",
    );
    let cfg = DatasetConfig::load(&y).unwrap();
    assert_eq!(cfg.root, ds);
    assert_eq!(cfg.names, vec!["cat", "dog"]);
    assert_eq!(cfg.nc(), 2);
    assert!(cfg.test.is_empty());
    let train = cfg.images(Split::Train).unwrap();
    let names: Vec<String> = train
        .iter()
        .map(|p| p.strip_prefix(&ds).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        vec![
            "images/train/a.jpg",
            "images/train/b.jpg",
            "images/train/sub/c.PNG"
        ]
    );
    assert_eq!(cfg.images(Split::Val).unwrap().len(), 1);
    let e = cfg.images(Split::Test).unwrap_err().to_string();
    assert!(
        e.contains("data.yaml") && e.contains("'test' is not set"),
        "{e}"
    );
}

#[test]
fn absent_path_is_the_yaml_folder_and_nc_only_names() {
    let tmp = tempfile::tempdir().unwrap();
    add_image(tmp.path(), "train", "a", (16, 16), None);
    let y = yaml(
        tmp.path(),
        "d.yaml",
        "train: images/train\nvalidation: images/train\nnc: 3\n",
    );
    let cfg = DatasetConfig::load(&y).unwrap();
    assert_eq!(cfg.root, tmp.path());
    assert_eq!(cfg.names, vec!["class_0", "class_1", "class_2"]);
    assert_eq!(cfg.val, vec![tmp.path().join("images/train")]);
}

#[test]
fn txt_lists_and_lists_of_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let a = add_image(root, "train", "a", (16, 16), None);
    let b = add_image(root, "extra", "b", (16, 16), None);
    let c = add_image(root, "other", "c", (16, 16), None);
    // `./x` relative to the list's folder, other relative lines to the root, absolute as is.
    write(
        &root.join("lists/train.txt"),
        format!(
            "images/extra/b.jpg\n./../images/train/a.jpg\n\n{}\nimages/other/readme.md\n",
            c.display()
        )
        .as_bytes(),
    );
    let y = yaml(
        root,
        "d.yaml",
        "train: [lists/train.txt, images/train]\nval: lists/train.txt\nnames: [x]\n",
    );
    let cfg = DatasetConfig::load(&y).unwrap();
    // Sorted by path: images/extra < images/other < images/train.
    assert_eq!(
        cfg.images(Split::Val).unwrap(),
        vec![b.clone(), c.clone(), a.clone()]
    );
    // `a` twice (list + folder): Ultralytics does not de-duplicate either.
    assert_eq!(cfg.images(Split::Train).unwrap(), vec![b, c, a.clone(), a]);
}

#[test]
fn missing_keys_and_mismatches_name_key_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("val: a\nnames: [x]\n", "'train:' key missing"),
        ("train: a\nnames: [x]\n", "'val:' key missing"),
        (
            "train: a\nval: a\n",
            "either 'names:' or 'nc:' key is required",
        ),
        (
            "train: a\nval: a\nnc: 2\nnames: [x]\n",
            "'names:' length 1 and 'nc: 2' must match",
        ),
        (
            "train: a\nval: a\nnames: {0: x, 2: y}\n",
            "'names:' key 2 is not a class id in 0-1",
        ),
        ("train: a\nval: a\nnames: 5\n", "'names:' must be a list"),
        ("train: 5\nval: a\nnames: [x]\n", "'train:' must be a path"),
        ("- just\n- a list\n", "expected a mapping"),
        ("train: [unclosed\n", "invalid yaml"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let y = yaml(tmp.path(), &format!("bad{i}.yaml"), text);
        let e = load_err(&y);
        assert!(
            e.contains(&format!("bad{i}.yaml")) && e.contains(want),
            "{text:?}: {e}"
        );
    }
    let e = load_err(&tmp.path().join("nope.yaml"));
    assert!(e.contains("nope.yaml"), "{e}");
}

#[test]
fn missing_split_folder_names_path_and_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let y = yaml(
        tmp.path(),
        "d.yaml",
        "train: images/train\nval: images/val\nnames: [x]\n",
    );
    let cfg = DatasetConfig::load(&y).unwrap();
    let e = cfg.images(Split::Val).unwrap_err().to_string();
    assert!(
        e.contains("d.yaml") && e.contains("images/val") && e.contains("does not exist"),
        "{e}"
    );
    fs::create_dir_all(tmp.path().join("images/val")).unwrap();
    let e = cfg.images(Split::Val).unwrap_err().to_string();
    assert!(e.contains("no images found"), "{e}");
}

#[test]
fn roboflow_parent_paths_fall_back_to_root() {
    let tmp = tempfile::tempdir().unwrap();
    add_image(tmp.path(), "train", "a", (16, 16), None);
    let y = yaml(
        tmp.path(),
        "data.yaml",
        "train: ../images/train\nval: ../images/train\nnames: [x]\n",
    );
    let cfg = DatasetConfig::load(&y).unwrap();
    assert_eq!(cfg.train, vec![tmp.path().join("images/train")]);
    assert_eq!(cfg.images(Split::Train).unwrap().len(), 1);
}

#[test]
fn shared_real_datasets() {
    let Some(shared) = shared_dir() else {
        eprintln!("note: ../shared not found; skipping the real-dataset yaml test");
        return;
    };
    let data = shared.join("data");
    let coco8 = DatasetConfig::load(&data.join("coco8/coco8.yaml")).unwrap();
    assert_eq!(
        (
            coco8.nc(),
            coco8.names[0].as_str(),
            coco8.names[79].as_str()
        ),
        (80, "person", "toothbrush")
    );
    assert_eq!(coco8.images(Split::Train).unwrap().len(), 4);
    assert_eq!(coco8.images(Split::Val).unwrap().len(), 4);
    let coco128 = DatasetConfig::load(&data.join("coco128/coco128.yaml")).unwrap();
    assert_eq!(coco128.images(Split::Train).unwrap().len(), 128);
    let chess = DatasetConfig::load(&data.join("chess_pieces/chess_pieces.yaml")).unwrap();
    assert_eq!(chess.nc(), 13);
    let counts: Vec<usize> = [Split::Train, Split::Val, Split::Test]
        .iter()
        .map(|&s| chess.images(s).unwrap().len())
        .collect();
    assert_eq!(counts, vec![606, 58, 29]);
}
