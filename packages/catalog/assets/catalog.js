// Bakehouse catalog: filters the extension list and copies snippets. No dependencies, no
// network; works from file:// as well as from a web server.
'use strict';

(function search() {
  var box = document.querySelector('.search');
  var input = document.getElementById('search');
  var list = document.getElementById('extensions');
  if (!box || !input || !list) return;
  var cards = Array.prototype.slice.call(list.querySelectorAll('.card'));
  var count = document.getElementById('count');
  var empty = document.getElementById('no-match');
  var total = cards.length;

  // Every word typed must appear somewhere in the card's name, description, versions, arches or relations.
  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card) {
      var text = card.getAttribute('data-search') || '';
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      card.hidden = !match;
      if (match) shown++;
    });
    // A group whose every card is filtered out goes too, heading and all.
    Array.prototype.forEach.call(list.querySelectorAll('.category'), function (section) {
      section.hidden = !section.querySelector('.card:not([hidden])');
    });
    empty.hidden = shown !== 0;
    count.textContent = (words.length === 0 ? total : shown + ' of ' + total) + (total === 1 ? ' extension' : ' extensions');
  }

  box.hidden = false;
  input.addEventListener('input', apply);
  document.addEventListener('keydown', function (event) {
    if (event.key === '/' && document.activeElement !== input) {
      event.preventDefault();
      input.focus();
    }
  });
  var query = new URLSearchParams(location.search).get('q');
  if (query) input.value = query;
  apply();
})();

(function copyButtons() {
  // The Clipboard API needs a secure context (https, localhost, file://); elsewhere fall back to
  // selecting the text and the older execCommand.
  function copyBySelection(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = document.execCommand('copy');
    selection.removeAllRanges();
    return copied ? Promise.resolve() : Promise.reject(new Error('copy refused'));
  }

  function flash(button, text) {
    button.textContent = text;
    setTimeout(function () { button.textContent = 'Copy'; }, 1500);
  }

  Array.prototype.forEach.call(document.querySelectorAll('button.copy'), function (button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      var text = target.textContent;
      var copy = navigator.clipboard && window.isSecureContext
        ? navigator.clipboard.writeText(text).catch(function () { return copyBySelection(target); })
        : copyBySelection(target);
      copy.then(function () { flash(button, 'Copied'); }, function () { flash(button, 'Select and copy by hand'); });
    });
  });
})();

(function archSwitch() {
  var group = document.querySelector('.arch-switch');
  if (!group) return;
  var buttons = Array.prototype.slice.call(group.querySelectorAll('button[data-arch]'));
  var snippets = Array.prototype.slice.call(document.querySelectorAll('.snippet[data-arch]'));

  function show(arch) {
    buttons.forEach(function (button) { button.setAttribute('aria-pressed', String(button.getAttribute('data-arch') === arch)); });
    snippets.forEach(function (snippet) { snippet.hidden = snippet.getAttribute('data-arch') !== arch; });
  }

  buttons.forEach(function (button) {
    button.addEventListener('click', function () { show(button.getAttribute('data-arch')); });
  });
  group.hidden = false;
  show(group.getAttribute('data-default'));
})();
