/// A UTC calendar minute, computed with Howard Hinnant's civil-date algorithms so that cron
/// evaluation needs neither Foundation's Calendar nor a time zone database.
struct CivilTime {
    var year: Int64
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int

    init(year: Int64, month: Int, day: Int, hour: Int = 0, minute: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
    }

    init(minutesSinceEpoch: Int64) {
        let days = Self.floorDivide(minutesSinceEpoch, 1440)
        let minuteOfDay = Int(minutesSinceEpoch - days * 1440)
        let z = days + 719_468
        let era = Self.floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * monthPrime + 2) / 5 + 1)
        month = Int(monthPrime < 10 ? monthPrime + 3 : monthPrime - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        hour = minuteOfDay / 60
        minute = minuteOfDay % 60
    }

    var daysSinceEpoch: Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = Self.floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let monthIndex = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * monthIndex + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    var minutesSinceEpoch: Int64 { daysSinceEpoch * 1440 + Int64(hour * 60 + minute) }

    /// 0 is Sunday; 1970-01-01 was a Thursday.
    var weekday: Int { Int((daysSinceEpoch % 7 + 11) % 7) }

    func startOfNextMonth() -> CivilTime {
        month == 12 ? CivilTime(year: year + 1, month: 1, day: 1) : CivilTime(year: year, month: month + 1, day: 1)
    }

    func startOfNextDay() -> CivilTime {
        CivilTime(minutesSinceEpoch: (daysSinceEpoch + 1) * 1440)
    }

    func startOfNextHour() -> CivilTime {
        CivilTime(minutesSinceEpoch: daysSinceEpoch * 1440 + Int64((hour + 1) * 60))
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : (a - b + 1) / b
    }
}
