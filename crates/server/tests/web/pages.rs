//! Page-level tests over plain HTTP.
