//! Runnable examples of ebbtide; see the `[[example]]` targets.
