import Foundation

/// Text conversion of `timestamptz`/`timestamp`/`date` values in Postgres's ISO output style.
public enum PostgresTimestamp {
    /// `2024-05-01 12:00:00.123456+00`: what the server parses unambiguously under any DateStyle.
    public static func format(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = Int(t.rounded(.down))
        var micros = Int(((t - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            seconds += 1
            micros -= 1_000_000
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), micros)
    }

    /// Parses ISO-style output: `YYYY-MM-DD[ HH:MM:SS[.ffffff][±HH[:MM[:SS]]]]`; no offset means UTC.
    public static func parse(_ text: String) -> Date? {
        let s = Array(text.utf8)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= s.count else { return nil }
            var v = 0
            for k in 0..<digits {
                let c = s[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += digits
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < s.count, s[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2) else {
            return nil
        }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var offset = 0
        if i < s.count, s[i] == 32 || s[i] == 84 {  // ' ' or 'T'
            i += 1
            guard let h = number(2), expect(58), let m = number(2), expect(58), let sec = number(2) else { return nil }
            (hour, minute, second) = (h, m, sec)
            if i < s.count, s[i] == 46 {  // '.'
                i += 1
                var scale = 0.1
                while i < s.count, s[i] >= 48 && s[i] <= 57 {
                    fraction += Double(s[i] - 48) * scale
                    scale /= 10
                    i += 1
                }
            }
            if i < s.count, s[i] == 43 || s[i] == 45 {  // '+' '-'
                let sign = s[i] == 45 ? -1 : 1
                i += 1
                guard let oh = number(2) else { return nil }
                var total = oh * 3600
                if expect(58), let om = number(2) {
                    total += om * 60
                    if expect(58), let os = number(2) { total += os }
                }
                offset = sign * total
            } else if i < s.count, s[i] == 90 {  // 'Z'
                i += 1
            }
        }
        guard i == s.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offset) + fraction)
    }
}
