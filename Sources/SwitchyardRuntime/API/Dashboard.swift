/// The dashboard page (`GET /`): one self-contained HTML document, `dashboard.html` beside this file,
/// embedded in the binary (no external assets). It polls `/status` every second, `/events` every two
/// and `/history` and `/trends` every five, and shows the active region, the control database, lease
/// and failsafe, every region with its components, runs in flight, a latency and health chart over
/// the last minutes, the observers' votes and self-health, the failovers with a timeline of their
/// steps, and the recent events.
enum Dashboard {
    /// The page's bytes.
    static var html: [UInt8] { PackageResources.dashboard_html }
}
