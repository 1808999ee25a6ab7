// Serves xtask/bench/hello-wasm (built by wasm-bindgen --target web).
import wasm from "./hello_wasm_bg.wasm";
import { initSync, answer } from "./hello_wasm.js";

initSync({ module: wasm });

export default {
  fetch() {
    return answer();
  },
};
