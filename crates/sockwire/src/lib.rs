//! sockwire
