// The runtime's ceiling: the least a JavaScript Worker can do per request.
export default {
  fetch() {
    return new Response("hello");
  },
};
