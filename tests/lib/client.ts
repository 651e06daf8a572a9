// The tests' lisafs client is the one `gofer client` uses (src/client/).
export * from "../../src/client/transport";
export * from "../../src/client/lisafs";
