/** Types of scripts/bundle-cli.js. */
export declare const ROOT: string;
export declare const CLI_ENTRY: string;
/** The bundled CLI's entry file (bundling first if the sources changed since the last bundle). */
export declare function cliBundle(): Promise<string>;
