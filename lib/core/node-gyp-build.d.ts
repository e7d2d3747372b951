// node-gyp-build ships no type declarations; this is the one function we use.
declare module 'node-gyp-build' {
  /** Loads the prebuilt or locally built addon of the package rooted at `dir`. */
  function load(dir: string): unknown;
  export = load;
}
