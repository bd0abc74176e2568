/**
 * A job's pace, set from outside the simulator (`BlockJobSimulator.setPace`): the most bytes per
 * second the job's storage moves (0: its requests never complete), given `unpaced`, the rate it
 * would copy at otherwise (its speed or the throughput; Infinity when neither limits it), or
 * undefined: no limit beyond those.
 */
export type JobPace = (job: string, unpaced: number) => number | undefined;
