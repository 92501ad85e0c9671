// Entry of the bundle: window.EmbedscopeMap.mount(element, {trigger, server, props, watch}).
export { mount } from './map.js';
