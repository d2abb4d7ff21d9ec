//! Server-rendered HTML: the security headers every page carries ([`headers`]). Pages are
//! plain HTML without scripts; text that comes from requests or the database is escaped with
//! [`headers::escape`].

pub mod headers;
