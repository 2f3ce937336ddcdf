// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "switchyard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchyard", targets: ["SwitchyardCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries: a module map and a shim.h of typed wrappers, nothing else.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CMalloc"),

        // The dedicated OS threads that blocking C calls run on (a serial executor per connection).
        .target(name: "Threading"),
        // The one rule set that hides credentials in URLs (hooks, Redis, Postgres URIs).
        .target(name: "Redaction"),
        // One thin Swift module per C library; each owns every pointer and handle of its library.
        .target(name: "Postgres", dependencies: ["CLibPQ", "Threading"]),
        .target(
            name: "Redis", dependencies: ["CHiredis", "Threading", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HTTP", dependencies: ["CCurl", "Threading", "Redaction"]),

        // The domain: configuration model, validation, pure state machines. No I/O beyond reading files.
        .target(
            name: "SwitchyardCore",
            dependencies: ["Redaction", "Postgres", .product(name: "Yams", package: "Yams")]
        ),
        // Services that wire I/O around the domain.
        .target(
            name: "SwitchyardRuntime",
            dependencies: [
                "SwitchyardCore", "Postgres", "Redis", "HTTP", "CMalloc", "Threading", "Redaction",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The API's OpenAPI document, served at /openapi.json (docs/openapi.json links to it), and the
            // dashboard page served at /.
            resources: [.embedInCode("API/openapi.json"), .embedInCode("API/dashboard.html")]
        ),
        // The lab: local deployments (dev), drills and benchmarks. The daemons never depend on it.
        .target(
            name: "SwitchyardLab",
            dependencies: [
                "SwitchyardCore", "SwitchyardRuntime", "Postgres", "Redis", "HTTP", "Threading",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                // The WAN lab's link relay (`LinkRelay`); already built for Hummingbird.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // The failover protocol's logic under deterministic simulation: the product's own decision code,
        // virtual time, seeded worlds (`switchyard bench simulate`; its figures from a release build).
        // Optimized even in debug builds.
        .target(
            name: "SwitchyardSimulation", dependencies: ["SwitchyardCore"],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .executableTarget(
            name: "SwitchyardCLI",
            dependencies: [
                "SwitchyardCore", "SwitchyardRuntime", "SwitchyardLab", "SwitchyardSimulation", "Postgres", "HTTP",
                "CMalloc", "Threading",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Real servers for tests: local Postgres clusters and Redis servers on loopback.
        .target(
            name: "TestSupport",
            dependencies: ["SwitchyardRuntime", "SwitchyardLab", "Postgres", "Redis", "HTTP", "SwitchyardCore"]),

        .testTarget(name: "SwitchyardCoreTests", dependencies: ["SwitchyardCore", "Redaction"]),
        .testTarget(
            name: "SwitchyardSimulationTests", dependencies: ["SwitchyardSimulation", "SwitchyardCore"],
            resources: [.copy("Regressions")]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "SwitchyardLab", "TestSupport"]),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "SwitchyardLab", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Redaction", "TestSupport"]),
        .testTarget(
            name: "SwitchyardTests",
            dependencies: [
                "SwitchyardRuntime", "SwitchyardLab", "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
