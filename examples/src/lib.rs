//! Runnable examples of ebbtide; see the `[[example]]` targets. The
//! rolling-upgrade scenario, the autogenerate walk-through and the
//! zero-downtime scenario under load live here so that the examples and
//! the workspace's tests run the very same code.

pub mod autogenerate;
pub mod load;
pub mod rolling;
