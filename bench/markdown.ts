// docs/benchmarks.md is checked by `npm run check` (prettier --check .), so the report is
// formatted with the repository's own Prettier settings before it is printed or written.

/** `markdown` formatted as Prettier would format `filePath`; unchanged if Prettier is absent. */
export async function formatMarkdown(markdown: string, filePath: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(filePath)) ?? {};
    return await prettier.format(markdown, { ...config, filepath: filePath });
  } catch (error) {
    // A production install has no devDependencies: the report is still correct, just unaligned.
    process.stderr.write(`bench: markdown left unformatted (${(error as Error).message})\n`);
    return markdown;
  }
}
