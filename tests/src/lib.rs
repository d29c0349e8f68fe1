//! Workspace-level tests of ebbtide; the tests are the `[[test]]` targets.
