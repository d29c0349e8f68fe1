//! Runnable examples of ebbtide; see the `[[example]]` targets. The
//! rolling-upgrade scenario lives here so that the example and the
//! workspace's test run the very same code.

pub mod load;
pub mod rolling;
