//! The certstream-compatible websocket server (see [`render`]).
pub mod render;
