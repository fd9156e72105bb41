//! The harness tests' one helpers module: temporary directories, from the file shared with the
//! root and server test binaries (`tests/common/`).

#[path = "../../../tests/common/temp.rs"]
mod temp;

pub(crate) use temp::TempDir;
