#![doc = include_str!("patterns.md")]
