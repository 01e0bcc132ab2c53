// What the examples of README.md and the DocC catalog take as given. They are
// compiled (scripts/check-doc-examples.sh generates Generated/ beside this file),
// never run: these declarations only give the names a type. An example that
// declares a name itself (`let channel = try NetlinkPushChannel()`) uses its own.
import Logging
import NetlinkPush

/// The application's logger.
let logger = Logger(label: "doc-examples")

/// A channel opened earlier in the document.
var channel: NetlinkPushChannel { fatalError("compiled, never run") }

/// A subscription made earlier in the document.
var subscription: Subscription { fatalError("compiled, never run") }

/// The same, under the short name the API reference uses.
var sub: Subscription { fatalError("compiled, never run") }

/// An event received earlier in the document.
var event: Event { fatalError("compiled, never run") }

/// The application's own handling of an event.
func handle(_ type: UInt32, _ payload: [UInt8]) {}
func process(_ event: Event) {}

/// Where a daemon keeps the position of the last event it processed.
var saved: (seq: UInt64, epoch: UInt64) {
    get { fatalError("compiled, never run") }
    set {}
}

/// The application's parser of a payload it does not keep.
func parse(_ bytes: UnsafeRawBufferPointer) {}
