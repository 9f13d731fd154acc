import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import WebSocket from 'ws';
import { Decoder as DefaultDecoder, Encoder as DefaultEncoder, PacketType, type Packet } from 'socket.io-parser';
import { Decoder, Encoder, encodeDocMessageFrame, pack, parseDocMessageFrame, unpack } from '../../server/protocol/frame-parser.ts';
import { connect, connected, startTestServer } from '../helpers/server.ts';

function decodeAll(decoder: DefaultDecoder, frames: unknown[]): Packet[] {
  const out: Packet[] = [];
  decoder.on('decoded', (p: Packet) => out.push(p));
  for (const f of frames) decoder.add(f);
  return out;
}

describe('one-frame parser', () => {
  it('packs a binary event into one frame and decodes it to the same packet as the default parser', () => {
    fc.assert(fc.property(fc.string(), fc.uint8Array({ maxLength: 4_096 }), fc.option(fc.nat(1_000), { nil: undefined }), (docId, bytes, id) => {
      const packet: Packet = { type: PacketType.EVENT, nsp: '/', data: ['doc:message', docId, Buffer.from(bytes)], ...(id !== undefined ? { id } : {}) };
      const frames = new Encoder().encode(packet);
      assert.equal(frames.length, 1, 'one frame');
      assert.ok(frames[0] instanceof Uint8Array);
      const [ours] = decodeAll(new Decoder(), frames);
      const [theirs] = decodeAll(new DefaultDecoder(), new DefaultEncoder().encode(packet));
      const bytesOf = (data: unknown[]) => [data[0], data[1], [...(data[2] as Uint8Array)]];
      assert.deepEqual(bytesOf(ours!.data as unknown[]), bytesOf(theirs!.data as unknown[]));
      assert.equal(ours!.id, theirs!.id);
      assert.equal(ours!.type, theirs!.type);
      assert.equal(ours!.nsp, theirs!.nsp);
    }));
  });

  it('writes a doc:message in canonical form byte for byte as packing the default encoding does, and reads it back', () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
    fc.assert(fc.property(fc.oneof(printable, fc.string()), fc.uint8Array({ maxLength: 300 }), fc.option(fc.nat(), { nil: undefined }), (docId, bytes, id) => {
      const packet: Packet = { type: PacketType.EVENT, nsp: '/', data: ['doc:message', docId, bytes], ...(id !== undefined ? { id } : {}) };
      const generic = pack(new DefaultEncoder().encode(packet));
      assert.deepEqual([...(new Encoder().encode(packet)[0] as Uint8Array)], [...generic], 'same bytes, canonical or not');
      const canonical = encodeDocMessageFrame(docId, bytes, id);
      const expectCanonical = !/["\\]/.test(docId) && /^[\x20-\x7e]*$/.test(docId);
      assert.equal(canonical !== null, expectCanonical, `canonical form for ${JSON.stringify(docId)}`);
      if (!canonical) return;
      assert.deepEqual([...canonical], [...generic]);
      const read = parseDocMessageFrame(canonical);
      assert.ok(read);
      assert.equal(read.docId, docId);
      assert.equal(read.ackId, id);
      assert.deepEqual([...read.message], [...bytes]);
    }));
  });

  it('in the middle of a default two-frame packet, a binary frame is its attachment whatever its first byte, as with the default parser', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (rest, looksCanonical) => {
      // An attachment that starts with the packed frame's magic byte, even one that is a whole canonical frame.
      const attachment = looksCanonical ? encodeDocMessageFrame('notes:b', rest)! : Uint8Array.from([0xac, ...rest]);
      const frames = new DefaultEncoder().encode({ type: PacketType.EVENT, nsp: '/', data: ['upload', 'notes:a', Buffer.from(attachment)] });
      assert.equal(frames.length, 2);
      const [ours] = decodeAll(new Decoder(), frames);
      const [theirs] = decodeAll(new DefaultDecoder(), frames);
      assert.ok(ours, 'decoded');
      assert.deepEqual([...(ours.data[2] as Uint8Array)], [...(theirs!.data[2] as Uint8Array)]);
      assert.deepEqual([...(ours.data[2] as Uint8Array)], [...attachment]);
    }));
  });

  it('leaves packets without binary data as the default text and still reads the default two-frame form', () => {
    const text: Packet = { type: PacketType.EVENT, nsp: '/', data: ['vote:cast', { changeId: 'ch-1' }], id: 3 };
    assert.deepEqual(new Encoder().encode(text), new DefaultEncoder().encode(text));
    const binary: Packet = { type: PacketType.EVENT, nsp: '/', data: ['doc:message', 'notes:x', Buffer.from([1, 2, 3])] };
    const [decoded] = decodeAll(new Decoder(), new DefaultEncoder().encode(binary));
    assert.deepEqual([...(decoded!.data[2] as Uint8Array)], [1, 2, 3]);
  });

  it('refuses malformed packed frames', () => {
    const good = pack(['51-["doc:message","notes:x",{"_placeholder":true,"num":0}]', new Uint8Array([9, 9])]);
    assert.deepEqual(unpack(good).attachments.map((a) => [...a]), [[9, 9]]);
    const cases: Uint8Array[] = [
      Uint8Array.of(0xac),
      Uint8Array.of(0xac, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
      Uint8Array.of(0xac, 10, 0x31),
      good.subarray(0, good.length - 1),
      Uint8Array.of(0xac, 2, 0xc3, 0x28),
    ];
    for (const frame of cases) assert.throws(() => new Decoder().add(frame), `frame ${[...frame]}`);
  });

  it('a hostile packed frame closes only that connection; the server and other clients carry on', async () => {
    const server = await startTestServer();
    const token = await server.user('pk', 'reviewer');
    const bystander = connect(server.url, token);
    await connected(bystander);
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.send(`40${JSON.stringify({ token })}`);
    await new Promise((r) => ws.once('message', r)); // the CONNECT answer
    const closed = new Promise((r) => ws.once('close', r));
    ws.send(Uint8Array.of(0xac, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
    await closed;
    assert.equal((await fetch(`${server.url}/api/health`)).status, 200);
    assert.equal(bystander.connected, true);
  });
});
