//! Ward's policy language: from source text to a checked policy bundle.
