//! Local RDS Data API emulator.
