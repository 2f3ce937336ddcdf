extension Duration {
    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("h", 3_600_000_000_000), ("m", 60_000_000_000), ("s", 1_000_000_000),
        ("ms", 1_000_000), ("us", 1_000), ("µs", 1_000), ("ns", 1),
    ]

    /// Parses a configuration duration such as `500ms`, `3s`, `2m`, `1h`, `1m30s`, `1.5s` or `250us`.
    ///
    /// Every number needs a unit (`h`, `m`, `s`, `ms`, `us`, `ns`), units must appear from largest to
    /// smallest, at most once each. Negative values, bare numbers and the empty string are rejected.
    public static func parse(_ text: String) -> Duration? {
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        var index = 0
        var total: Int64 = 0
        var lastUnitRank = -1
        while index < scalars.count {
            var whole = ""
            var fraction = ""
            var sawDot = false
            while index < scalars.count {
                let scalar = scalars[index]
                if ("0"..."9").contains(scalar) {
                    if sawDot { fraction.unicodeScalars.append(scalar) } else { whole.unicodeScalars.append(scalar) }
                } else if scalar == "." && !sawDot {
                    sawDot = true
                } else {
                    break
                }
                index += 1
            }
            guard !whole.isEmpty, !sawDot || !fraction.isEmpty else { return nil }
            var unit = ""
            while index < scalars.count, !("0"..."9").contains(scalars[index]), scalars[index] != "." {
                unit.unicodeScalars.append(scalars[index])
                index += 1
            }
            guard let rank = units.firstIndex(where: { $0.suffix == unit }), rank > lastUnitRank else { return nil }
            // "us" and "µs" share a rank in spirit: both mean microseconds, so one excludes the other.
            lastUnitRank = units[rank].suffix == "us" ? rank + 1 : rank
            let perUnit = units[rank].nanoseconds
            guard whole.count <= 18, let wholeValue = Int64(whole) else { return nil }
            let (scaled, overflow) = wholeValue.multipliedReportingOverflow(by: perUnit)
            guard !overflow else { return nil }
            var fractionNanos: Int64 = 0
            var divisor: Int64 = 1
            for digit in fraction.prefix(9) {
                divisor *= 10
                fractionNanos = fractionNanos * 10 + Int64(String(digit))!
            }
            let fractionPart =
                divisor > 1 ? perUnit / divisor * fractionNanos + perUnit % divisor * fractionNanos / divisor : 0
            let (sum, sumOverflow) = total.addingReportingOverflow(scaled)
            guard !sumOverflow else { return nil }
            let (withFraction, fractionOverflow) = sum.addingReportingOverflow(fractionPart)
            guard !fractionOverflow else { return nil }
            total = withFraction
        }
        return .nanoseconds(total)
    }

    /// The duration written the way `parse(_:)` reads it, largest units first: `500ms`, `3s`, `1m30s`.
    public var configText: String {
        let (seconds, attoseconds) = components
        var remaining = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        if remaining == 0 { return "0s" }
        var text = remaining < 0 ? "-" : ""
        remaining = remaining.magnitude > Int64.max.magnitude ? Int64.max : abs(remaining)
        for (suffix, nanoseconds) in Self.units where suffix != "µs" {
            let count = remaining / nanoseconds
            if count > 0 {
                text += "\(count)\(suffix)"
                remaining -= count * nanoseconds
            }
        }
        return text
    }

    /// The duration in whole nanoseconds, for arithmetic on configuration rules.
    var totalNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
