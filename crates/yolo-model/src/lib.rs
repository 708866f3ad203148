//! YOLO11 n/s/m/l/x on Burn, exact to the Ultralytics architecture, with Ultralytics weights in
//! and out (`.pt`, ONNX, safetensors).

pub mod attention;
pub mod block;
pub mod bn_act;
pub mod config;
pub mod conv;
pub mod error;
pub mod fuse;
pub mod head;
#[cfg(feature = "cube-kernels")]
pub mod kernels;
pub mod load;
pub mod state;
pub mod summary;
pub mod weights;
pub mod yolo;

pub use burn;
pub use config::{ModelSpec, Scale};
pub use error::ModelError;
pub use fuse::Fuse;
pub use yolo::Yolo;
pub use load::{build_model, load_model, save_model, ModelMeta};
