//! Integration tests: replay the convox CLI's call sequences against a fake rack on port 0.

mod api {
    mod auth_and_wire;
    mod deploy;
    mod exec;
    mod helpers;
    mod logs;
    mod objects;
    mod releases;
    mod tarballs;
    mod tls;
}
