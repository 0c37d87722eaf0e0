import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { base64Bytes, formatBytes, renderToolContent } from './mcp-content';

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');
const PNG = b64(Buffer.alloc(2048, 1));

function render(content: CallToolResult['content'], structuredContent?: Record<string, unknown>) {
  return renderToolContent({ content, structuredContent });
}

describe('renderToolContent', () => {
  it('gives text as it came, one part per block', () => {
    expect(
      render([
        { type: 'text', text: 'one' },
        { type: 'text', text: 'two' },
      ]),
    ).toEqual({
      parts: [
        { type: 'input_text', text: 'one' },
        { type: 'input_text', text: 'two' },
      ],
      text: 'one\ntwo',
    });
  });

  it('gives the model images it can read as data URLs, and clients a description', () => {
    expect(render([{ type: 'image', data: PNG, mimeType: 'image/PNG' }])).toEqual({
      parts: [{ type: 'input_image', image_url: `data:image/png;base64,${PNG}`, detail: 'auto' }],
      text: '[image: image/PNG, 2.0 KB]',
    });
  });

  it('describes images of types models do not take', () => {
    const svg = b64('<svg/>');
    expect(render([{ type: 'image', data: svg, mimeType: 'image/svg+xml' }])).toEqual({
      parts: [{ type: 'input_text', text: '[image: image/svg+xml, 6 bytes]' }],
      text: '[image: image/svg+xml, 6 bytes]',
    });
  });

  it('describes audio', () => {
    const rendered = render([
      { type: 'audio', data: b64(Buffer.alloc(3 * 1024 * 1024)), mimeType: 'audio/mpeg' },
    ]);
    expect(rendered.text).toBe('[audio: audio/mpeg, 3.0 MB]');
    expect(rendered.parts).toEqual([{ type: 'input_text', text: '[audio: audio/mpeg, 3.0 MB]' }]);
  });

  it('gives embedded text resources with their URI', () => {
    const rendered = render([{ type: 'resource', resource: { uri: 'mem://a', text: 'body' } }]);
    expect(rendered).toEqual({
      parts: [{ type: 'input_text', text: '[resource: mem://a]\nbody' }],
      text: '[resource: mem://a]\nbody',
    });
  });

  it('maps blobs by type: images, PDFs, text, and the rest described', () => {
    const rendered = render([
      { type: 'resource', resource: { uri: 'file:///p.png', mimeType: 'image/png', blob: PNG } },
      {
        type: 'resource',
        resource: {
          uri: 'file:///dir/My%20Report.pdf',
          mimeType: 'application/pdf',
          blob: b64('%PDF'),
        },
      },
      {
        type: 'resource',
        resource: {
          uri: 'file:///d.json',
          mimeType: 'application/json; charset=utf-8',
          blob: b64('{"a":1}'),
        },
      },
      {
        type: 'resource',
        resource: {
          uri: 'file:///bad.txt',
          mimeType: 'text/plain',
          blob: b64(Buffer.from([0xff, 0xfe])),
        },
      },
      { type: 'resource', resource: { uri: 'file:///x.bin', blob: b64('xyz') } },
    ]);
    expect(rendered.parts).toEqual([
      { type: 'input_image', image_url: `data:image/png;base64,${PNG}`, detail: 'auto' },
      {
        type: 'input_file',
        file_data: `data:application/pdf;base64,${b64('%PDF')}`,
        filename: 'My Report.pdf',
      },
      {
        type: 'input_text',
        text: '[resource: file:///d.json (application/json; charset=utf-8)]\n{"a":1}',
      },
      // Not UTF-8 after all: described rather than garbled.
      { type: 'input_text', text: '[resource: file:///bad.txt (text/plain), 2 bytes]' },
      { type: 'input_text', text: '[resource: file:///x.bin (binary), 3 bytes]' },
    ]);
    // Clients see every blob described, never its bytes.
    expect(rendered.text.split('\n')).toEqual([
      '[resource: file:///p.png (image/png), 2.0 KB]',
      '[resource: file:///dir/My%20Report.pdf (application/pdf), 4 bytes]',
      '[resource: file:///d.json (application/json; charset=utf-8), 7 bytes]',
      '[resource: file:///bad.txt (text/plain), 2 bytes]',
      '[resource: file:///x.bin (binary), 3 bytes]',
    ]);
  });

  it('names a PDF without a file name in its URI', () => {
    const rendered = render([
      {
        type: 'resource',
        resource: {
          uri: 'https://files.example.com/',
          mimeType: 'application/pdf',
          blob: b64('%PDF'),
        },
      },
    ]);
    expect(rendered.parts[0]).toMatchObject({ type: 'input_file', filename: 'document.pdf' });
  });

  it('describes resource links with what the server said of them', () => {
    expect(
      render([
        {
          type: 'resource_link',
          uri: 'https://x.example/a',
          name: 'a',
          size: 4096,
          mimeType: 'text/csv',
          description: 'All rows',
        },
        { type: 'resource_link', uri: 'https://x.example/b', name: 'b' },
      ]).text,
    ).toBe(
      '[resource link: a <https://x.example/a> (text/csv, 4.0 KB)] All rows\n[resource link: b <https://x.example/b>]',
    );
  });

  it('gives structured content as JSON when there is no content', () => {
    expect(render([], { sum: 5 })).toEqual({
      parts: [{ type: 'input_text', text: '{"sum":5}' }],
      text: '{"sum":5}',
    });
  });

  it('prefers the content when a tool sends both, as the spec has it duplicate the JSON', () => {
    expect(render([{ type: 'text', text: 'five' }], { sum: 5 }).text).toBe('five');
  });

  it('renders nothing for an empty result', () => {
    expect(render([])).toEqual({ parts: [], text: '' });
  });
});

describe('sizes', () => {
  it('reads the size of base64 data without decoding it', () => {
    for (const length of [0, 1, 2, 3, 4, 5, 100]) {
      expect(base64Bytes(b64(Buffer.alloc(length)))).toBe(length);
    }
  });

  it('formats bytes for people', () => {
    expect(formatBytes(1023)).toBe('1023 bytes');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MB');
  });
});
