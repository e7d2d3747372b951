/** What another addon's binding.gyp needs to compile mempools' C allocators into itself (docs/addons.md). */
declare const gyp: {
  /** Directory of the public C headers, relative to the current directory. */
  readonly include_dir: string;
  /** The gyp file, relative to the current directory; its target is `allocators`. */
  readonly targets: string;
};
export = gyp;
