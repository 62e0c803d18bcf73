export { HistoryError, readBars, readFunding, readMarks, describeTime, BARS_HEADER, FUNDING_HEADER, MARKS_HEADER } from './csv.js';
export type { Bars } from './csv.js';
export { loadHistory } from './history.js';
export type { LoadHistoryOptions } from './history.js';
