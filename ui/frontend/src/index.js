// Entry of the bundle: window.EmbedscopeMap.mount(element, {trigger, server, props, watch}) for
// the page, window.EmbedscopeMap.standalone(element, data) for an exported map.
export { mount } from './map.js';
export { standalone } from './standalone.js';
