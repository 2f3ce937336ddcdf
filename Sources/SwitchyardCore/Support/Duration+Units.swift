extension Duration {
    /// Seconds as a Double.
    public var secondsDouble: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole milliseconds, rounded down (for settings that cross into SQL or C as integers).
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole seconds, rounded up, at least `minimum` (libpq's second-granular settings).
    public func wholeSecondsRoundedUp(minimum: Int64 = 1) -> Int64 {
        let (seconds, attoseconds) = components
        return max(minimum, seconds + (attoseconds > 0 ? 1 : 0))
    }
}
