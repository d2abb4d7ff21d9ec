//! Settings catalogue (placeholder, filled in next).
