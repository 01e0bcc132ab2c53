// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "nlpush",
    products: [
        .library(name: "NetlinkPush", targets: ["NetlinkPush"]),
        // A separate product, so that users of the core library do not build
        // swift-service-lifecycle, swift-async-algorithms and swift-collections.
        .library(name: "NetlinkPushServiceLifecycle", targets: ["NetlinkPushServiceLifecycle"]),
        .library(name: "NetlinkPushTesting", targets: ["NetlinkPushTesting"]),
        .executable(name: "nlpush", targets: ["nlpush"]),
    ],
    traits: [
        // `nlpush exporter` and its HTTP server (Hummingbird on swift-nio), on by default.
        // scripts/bench.sh builds the CLI without it (--disable-default-traits): the
        // benchmarks do not serve HTTP, and a release build of swift-nio costs minutes.
        .trait(name: "Exporter", description: "The `nlpush exporter` command and its HTTP server."),
        .default(enabledTraits: ["Exporter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Only the DocExamples test target uses it (the README's daemon exports to Prometheus).
        // `nlpush exporter`: the Prometheus text format, and the HTTP server that serves it.
        // Hummingbird's default traits (swift-configuration, full Foundation) are not needed.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-genl-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev"])]
        ),
        .target(
            name: "NetlinkPush",
            dependencies: [
                "CNetlink",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
        .target(
            name: "NetlinkPushServiceLifecycle",
            dependencies: [
                "NetlinkPush",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
        .target(
            name: "NetlinkPushTesting",
            dependencies: [
                "NetlinkPush",
                "CNetlink",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
        .executableTarget(
            name: "nlpush",
            dependencies: [
                "NetlinkPush",
                "CNetlink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Exporter"])),
                .product(name: "HummingbirdCore", package: "hummingbird", condition: .when(traits: ["Exporter"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Exporter"])),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "NetlinkPushTests",
            dependencies: [
                "NetlinkPush",
                "NetlinkPushTesting",
                "NetlinkPushServiceLifecycle",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Every ```swift block of README.md and the DocC catalog, compiled as written:
        // scripts/check-doc-examples.sh generates Tests/DocExamples/Generated/ and
        // builds this target. Context.swift names what the examples take as given.
        .testTarget(
            name: "DocExamples",
            dependencies: [
                "NetlinkPush",
                "NetlinkPushServiceLifecycle",
                "NetlinkPushTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
