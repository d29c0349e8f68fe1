//! Runnable examples of ebbtide; see the `[[example]]` targets. The
//! rolling-upgrade scenario and the zero-downtime scenario under load live
//! here so that the examples and the workspace's tests run the very same
//! code.

pub mod load;
pub mod rolling;
