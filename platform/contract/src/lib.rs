//! not written yet
