// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "nlpush",
    products: [
        .library(name: "NetlinkPush", targets: ["NetlinkPush"]),
        .library(name: "NetlinkPushTesting", targets: ["NetlinkPushTesting"]),
        .executable(name: "nlpush", targets: ["nlpush"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "NetlinkPushTests",
            dependencies: ["NetlinkPush", "NetlinkPushTesting"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
