//! aurora-migrate
