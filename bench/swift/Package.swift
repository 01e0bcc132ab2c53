// swift-tools-version: 6.1
// Host benchmarks of the NetlinkPush library (GitHub issue 5), kept out of the
// root package so that its users never fetch package-benchmark:
//
//   cd bench/swift && swift package benchmark           (package-benchmark)
//   swift build -c release --product DecodeStream       (for bench/callgrind.sh)
//
// The decode benchmarks replay the event stream recorded from the real kernel
// module in bench/data/ (see BENCHMARKS.md).
import PackageDescription

let package = Package(
    name: "nlpush-benchmarks",
    dependencies: [
        .package(name: "nlpush", path: "../.."),
        // ordo-one/package-benchmark, now published as ordo-one/benchmark
        .package(
            url: "https://github.com/ordo-one/benchmark", from: "1.38.1",
            traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "NetlinkPushBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NetlinkPush", package: "nlpush"),
            ],
            path: "Benchmarks/NetlinkPushBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Decodes a recorded stream REPEAT times with the public API: the program
        // bench/callgrind.sh counts instructions of.
        .executableTarget(
            name: "DecodeStream",
            dependencies: [.product(name: "NetlinkPush", package: "nlpush")],
            path: "Sources/DecodeStream"
        ),
        // A whole subscription (reader thread, hand-off, consumer) over the in-memory
        // FakeKernel: what bench/pipeline-profile.sh counts instructions of.
        .executableTarget(
            name: "PipelineProfile",
            dependencies: [
                .product(name: "NetlinkPush", package: "nlpush"),
                .product(name: "NetlinkPushTesting", package: "nlpush"),
            ],
            path: "Sources/PipelineProfile"
        ),
    ]
)
