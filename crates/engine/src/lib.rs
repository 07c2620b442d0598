//! DataFusion engine (see issue 4).
