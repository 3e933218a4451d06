//! The frame layer: envelopes, v5 segments, CRCs and compression.
