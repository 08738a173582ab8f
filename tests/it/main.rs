//! Kith integration tests.
