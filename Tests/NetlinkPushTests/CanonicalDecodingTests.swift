import Testing

@testable import NetlinkPush

/// The receive path reads the module's own layout at fixed offsets
/// (`MessageDecoder.canonicalEvent`) and leaves every other layout to the general loop
/// (`anyLayoutEvent`). These tests hold the two to the same answers.
@Suite("Decoding: the fixed-offset fast path for the module's layout")
struct CanonicalDecodingTests {
    typealias D = MessageDecoder

    struct Fields: Equatable {
        var seq: UInt64, ts: UInt64, type: UInt32, flags: UInt32, epoch: UInt64, payload: [UInt8]
        init(_ r: D.RawEvent) {
            (seq, ts, type, flags, epoch, payload) =
                (r.seq, r.timestampNs, r.type, r.flags, r.epoch, Array(r.payload))
        }
    }

    /// An EVENT message's attributes as nlpush_event_put() writes them.
    static func canonical(seq: UInt64, payload: [UInt8], epoch: UInt64 = Fixture.epoch) -> [UInt8] {
        B.attr(2, B.u64(seq)) + B.attr(3, B.u64(seq &* 1000)) + B.attr(4, B.u32(7)) + B.attr(5, B.u32(1))
            + B.attr(6, payload) + B.attr(14, B.u64(epoch))
    }

    /// Both decoders on `attrs`: the fast path's answer (nil: not taken) and the general one's.
    static func decode(_ attrs: [UInt8]) -> (fast: Fields?, general: Result<Fields, NetlinkPushError>) {
        attrs.withUnsafeBytes { raw in
            let v = ByteView(base: raw)
            let fast = D.canonicalEvent(v).map(Fields.init)
            do throws(NetlinkPushError) {
                return (fast, .success(Fields(try D.anyLayoutEvent(v))))
            } catch {
                return (fast, .failure(error))
            }
        }
    }

    @Test("the module's layout takes the fast path and decodes as the general loop does",
          arguments: [0, 1, 2, 3, 4, 5, 63, 64, 65, 1024, 4093, 61440])
    func canonicalLayout(_ size: Int) throws {
        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let attrs = Self.canonical(seq: 0x0102_0304_0506_0708, payload: payload)
        let (fast, general) = Self.decode(attrs)
        let f = try #require(fast, "the fast path did not take the module's own layout")
        #expect(f == (try general.get()))
        #expect(f.seq == 0x0102_0304_0506_0708 && f.ts == 0x0102_0304_0506_0708 &* 1000)
        #expect(f.type == 7 && f.flags == 1 && f.epoch == Fixture.epoch && f.payload == payload)
        // and through the whole message, as the reader sees it
        let e = try Event(decoding: B.msg(type: Fixture.family, B.genl(cmd: 1) + attrs))
        #expect(e.seq == f.seq && e.payload == payload && e.epoch == Fixture.epoch)
    }

    @Test func otherLayoutsGoTheGeneralWay() throws {
        let p: [UInt8] = [9, 8, 7, 6, 5]
        let base = Self.canonical(seq: 5, payload: p)
        let want = try Self.decode(base).general.get()
        let epochAttr = B.attr(14, B.u64(Fixture.epoch))
        let variants: [(String, [UInt8])] = [
            ("EPOCH first", epochAttr + Array(base.dropLast(epochAttr.count))),
            ("a PAD attribute before SEQ", B.attr(1, []) + base),
            ("an attribute of a newer version after EPOCH", base + B.attr(99, [1, 2, 3])),
            ("the event of Fixture.event42's size, with TYPE and FLAGS swapped",
             B.attr(2, B.u64(5)) + B.attr(3, B.u64(5000)) + B.attr(5, B.u32(1)) + B.attr(4, B.u32(7))
                + B.attr(6, p) + epochAttr),
        ]
        for (name, attrs) in variants {
            let (fast, general) = Self.decode(attrs)
            #expect(fast == nil, "\(name): the fast path took it")
            #expect((try? general.get()) == want, "\(name)")
        }
        // a repeated SEQ: the general loop keeps the last
        let (fast, general) = Self.decode(base + B.attr(2, B.u64(6)))
        #expect(fast == nil)
        #expect((try? general.get())?.seq == 6)
    }

    @Test func malformedCanonicalLookalikesAreRejected() {
        var bad: [(String, [UInt8])] = []
        var zero = Self.canonical(seq: 0, payload: [1, 2, 3])
        bad.append(("SEQ 0", zero))
        zero = Self.canonical(seq: 1, payload: [1, 2, 3, 4])
        zero[40] = 200  // PAYLOAD's length beyond the message
        bad.append(("PAYLOAD overruns", zero))
        zero = Self.canonical(seq: 1, payload: [1, 2, 3, 4])
        zero[40] = 2  // PAYLOAD's length below its header
        bad.append(("PAYLOAD shorter than its header", zero))
        zero = Self.canonical(seq: 1, payload: [1, 2, 3, 4])
        zero.removeLast(4)  // EPOCH cut short
        bad.append(("EPOCH truncated", zero))
        bad.append(("oversize payload", Self.canonical(seq: 1, payload: [UInt8](repeating: 1, count: 61441))))
        for (name, attrs) in bad {
            let (fast, general) = Self.decode(attrs)
            #expect(fast == nil, "\(name): the fast path took it")
            guard case .failure(.malformed) = general else {
                Issue.record("\(name): the general loop accepted it")
                continue
            }
        }
    }

    @Test func mutatedMessagesNeverDisagree() {
        var rng = SplitMix(seed: 0xfa57)
        var taken = 0
        for round in 0..<4000 {
            var attrs = Self.canonical(seq: 1 + rng.next() % 1000, payload: (0..<Int(rng.next() % 80)).map { UInt8($0) })
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                // the headers and their neighbourhood, where a mutation matters most
                let at = Int(rng.next() % UInt64(min(attrs.count, round % 2 == 0 ? 48 : attrs.count)))
                attrs[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 4 == 0 { attrs = Array(attrs.prefix(Int(rng.next() % UInt64(attrs.count + 1)))) }
            let (fast, general) = Self.decode(attrs)
            guard let fast else { continue }
            taken += 1
            #expect((try? general.get()) == fast, "round \(round): \(attrs)")
        }
        // some mutations hit only values: the fast path still decodes those
        #expect(taken > 100)
    }
}
