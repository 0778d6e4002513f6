import Reference

/// Connects the in-process reference to Redis when a fixture configures the redis backend, as
/// `mcsec serve` does at start-up: a Redis that cannot be reached (or refuses the password) is
/// a start-up error naming the URL with its credentials hidden.
enum RedisStoreConnector {
    static func connect(url: String) throws -> any RateLimitStore {
        try RedisRateLimitStore.connect(url: url)
    }
}
