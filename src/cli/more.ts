// The commands other than quantize / inspect / demo, as one module: main.ts imports it only when one
// of them runs. (One module rather than one per command: the split CLI bundle then has a few chunks,
// and each chunk a process loads costs a module resolution, a file read and a compile.)
export { runPrune } from "./prune";
export { runImatrix, runEvaluate } from "./calib";
export { runTeacher } from "./teacher";
export { runWeb } from "./web";
export { runEora, runLowrank } from "./lowrank";
export { runTt } from "./tt";
