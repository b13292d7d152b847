//! Client streams: one task per connection.
