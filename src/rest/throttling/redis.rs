//! Provides the Redis throttle store, so that several instances share one exact limit.
