//! Fast paths.
